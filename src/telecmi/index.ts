export { CallEvent, EventKind, Leg, Provider } from './call-event.ts';
export { CALL_ID_FIELDS, type NormaliseResult, normalise } from './normalise.ts';
export { JsonTooDeepError, MAX_JSON_DEPTH, parseJsonBody } from './parse-json.ts';
