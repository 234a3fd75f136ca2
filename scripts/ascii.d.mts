/** Throws, naming the line, when the file at `path` holds a byte that is not ASCII. */
export function assertAscii(path: string): void;
