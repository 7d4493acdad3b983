import { describe, expect, it } from 'vitest';
import { compileTemplate, renderTemplate } from '../../src/destinations/template.ts';
import type { CallEvent } from '../../src/telecmi/index.ts';
import { sampleEvent } from '../helpers/samples.ts';

function event(name: string): CallEvent {
  return sampleEvent(name, { receivedAt: new Date('2025-01-02T03:04:05.678Z') });
}

const answered = event('chub-cdr-incoming-answered');

describe('renderTemplate', () => {
  it('keeps the type of a string that is exactly one placeholder', () => {
    expect(renderTemplate('{{answeredSec}}', answered)).toBe(11);
    expect(renderTemplate('{{ answeredSec }}', answered)).toBe(11);
    expect(renderTemplate('{{from}}', answered)).toBe('440000000002');
    expect(renderTemplate('{{custom}}', answered)).toEqual({ key: 'value' });
    expect(renderTemplate('{{leg}}', answered)).toBeNull();
    expect(renderTemplate('{{nope}}', answered)).toBeNull();
    expect(renderTemplate('{{raw.record}}', answered)).toBe(true);
  });

  it('reaches into raw and parsed custom fields with dot paths', () => {
    expect(renderTemplate('{{raw.filename}}', answered)).toBe('1634720915260737218351_2222223.mp3');
    expect(renderTemplate('{{custom.key}}', answered)).toBe('value');
    expect(renderTemplate('{{raw.answeredsec}}', answered)).toBe(11);
    expect(renderTemplate('{{custom.key.deeper}}', answered)).toBeNull();
    expect(renderTemplate('{{raw.nope.deeper}}', answered)).toBeNull();
  });

  it('replaces placeholders inside longer text by the text of the value', () => {
    expect(renderTemplate('Call {{callId}} from {{ from }} ({{answeredSec}} s)', answered)).toBe(
      'Call 16132200-57fa-47b5-888d-4ab5b7e631ee from 440000000002 (11 s)',
    );
    expect(renderTemplate('leg=[{{leg}}] missing=[{{nope.x}}]', answered)).toBe('leg=[] missing=[]');
    expect(renderTemplate('custom: {{custom}}', answered)).toBe('custom: {"key":"value"}');
    expect(renderTemplate('no placeholders', answered)).toBe('no placeholders');
    expect(renderTemplate('{{ not a path }}', answered)).toBe('{{ not a path }}');
  });

  it('walks mappings and lists, keeping other values as they are', () => {
    const template = {
      event_id: '{{id}}',
      call: { id: '{{callId}}', seconds: '{{answeredSec}}', caller: 'tel:{{from}}' },
      tags: ['telecmi', '{{team}}', '{{direction}}-{{status}}'],
      fixed: 42,
      flag: false,
      empty: null,
    };
    expect(renderTemplate(template, answered)).toEqual({
      event_id: answered.id,
      call: { id: answered.callId, seconds: 11, caller: 'tel:440000000002' },
      tags: ['telecmi', 'Sales_2222223', 'inbound-answered'],
      fixed: 42,
      flag: false,
      empty: null,
    });
  });

  it('does not reach into prototypes', () => {
    expect(renderTemplate('{{constructor}}', answered)).toBeNull();
    expect(renderTemplate('x{{raw.toString}}x', answered)).toBe('xx');
  });

  it('compiles once and renders many events', () => {
    const render = compileTemplate({ s: '{{status}}', w: '{{waitedSec}}' });
    expect(render(answered)).toEqual({ s: 'answered', w: null });
    expect(render(event('chub-cdr-incoming-missed'))).toEqual({ s: 'missed', w: 127 });
    // Rendering the same object template twice gives the same result.
    const template = { id: '{{id}}' };
    expect(renderTemplate(template, answered)).toEqual(renderTemplate(template, answered));
  });
});
