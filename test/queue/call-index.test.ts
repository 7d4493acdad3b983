import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCallIndex, eventsOfCall } from '../../src/queue/call-index.ts';
import { callIndexKey } from '../../src/queue/names.ts';
import { uniquePrefix } from '../helpers/receiver.ts';
import { deletePrefix, REDIS_URL } from '../helpers/redis-server.ts';
import { sampleEvent } from '../helpers/samples.ts';

/** A week, as the fan-out gives it by default (`retention.deliveredDays`). */
const TTL_SEC = 7 * 24 * 3600;

describe('the call index', () => {
  const prefix = uniquePrefix('calls');
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  const indexCalls = async (keyPrefix: string, events: Parameters<typeof addCallIndex>[2]) => {
    const pipeline = redis.pipeline();
    addCallIndex(pipeline, keyPrefix, events, TTL_SEC);
    await pipeline.exec();
  };
  afterAll(async () => {
    await deletePrefix(REDIS_URL, prefix);
    redis.disconnect();
  });

  it('finds events by call id and by conversation id, oldest first, once each, for a week', async () => {
    // The agent's leg of an incoming call: its own cmiuuid, the caller's as conversation_uuid.
    const at = (second: number) => ({ receivedAt: new Date(Date.UTC(2026, 10, 24, 12, 0, second)) });
    const answered = sampleEvent('chub-event-incoming-answered.json', at(2));
    const waiting = sampleEvent('chub-event-incoming-waiting.json', at(1));
    const agent = sampleEvent('chub-event-agent-answered.json', at(3));
    expect(agent.conversationId).toBe(waiting.callId);
    expect(agent.callId).not.toBe(waiting.callId);

    await indexCalls(prefix, [answered, waiting, agent]);
    await indexCalls(prefix, [waiting]); // run twice (a retried fan-out): still once
    expect(await eventsOfCall(redis, prefix, waiting.callId)).toEqual([waiting.id, answered.id, agent.id]);
    expect(await eventsOfCall(redis, prefix, agent.callId)).toEqual([agent.id]);
    expect(await eventsOfCall(redis, prefix, 'no-such-call')).toEqual([]);

    const ttl = await redis.ttl(callIndexKey(prefix, agent.callId));
    expect(ttl).toBeGreaterThan(TTL_SEC - 60);
    expect(ttl).toBeLessThanOrEqual(TTL_SEC);
  });

  it('an event without a conversation id is found by its call id alone', async () => {
    const own = uniquePrefix('calls');
    const event = sampleEvent('chub-cdr-incoming-user-missed.json');
    expect(event.conversationId).toBeNull();
    await indexCalls(own, [event]);
    expect(await redis.keys(`${own}:calls:*`)).toEqual([callIndexKey(own, event.callId)]);
    await deletePrefix(REDIS_URL, own);
  });
});
