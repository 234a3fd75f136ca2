import { promisify } from 'node:util';

// zlib loads with the first rotated log compressed or read back: the daemon's start-up needs
// none of it.

/** A rotated log file's bytes, gzipped. */
export const gzipAsync = (data: Buffer): Promise<Buffer> =>
  promisify(process.getBuiltinModule('node:zlib').gzip)(data);

/** A gzipped rotated log file's bytes, as they were. */
export const gunzipAsync = (data: Buffer): Promise<Buffer> =>
  promisify(process.getBuiltinModule('node:zlib').gunzip)(data);
