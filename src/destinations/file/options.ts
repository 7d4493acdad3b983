import * as v from 'valibot';
import { nonEmptyText } from '../../config/fields.ts';

export const FileOptions = v.pipe(
  v.object({
    type: v.literal('file'),
    path: v.pipe(nonEmptyText, v.description('A folder, created when missing.')),
  }),
  v.description('type: file: an NDJSON archive, one file per UTC day.'),
);
