export { CallEvent, EventKind, Leg, Provider } from './call-event.ts';
export { CALL_ID_FIELDS, type NormaliseResult, normalise } from './normalise.ts';
export { parseJsonBody } from './parse-json.ts';
