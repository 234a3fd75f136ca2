/** The longest unix socket path: sun_path is 108 bytes with the terminating NUL. */
export const maxSocketPathBytes = 107;
