import * as v from 'valibot';
import { nonEmptyText } from '../../config/fields.ts';

/** `type: file`: an NDJSON archive, one file per UTC day, under `path`. */
export const FileOptions = v.object({
  type: v.literal('file'),
  /** Folder for the archive; created when missing. */
  path: nonEmptyText,
});
