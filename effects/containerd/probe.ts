import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { connect as connectSocket } from 'node:net';

/**
 * containerd's Version call made by hand over HTTP/2: the readiness probe of a containerd
 * just spawned, which must not wait for the gRPC client (grpc-js, protobufjs) to load and
 * costs a fraction of a client's first call. A gRPC unary call is one HTTP/2 POST whose body
 * is the request message framed as [0 (not compressed), length (4 bytes, big-endian),
 * message]: Version's request is google.protobuf.Empty, so five zero bytes. The answer is one
 * such frame holding VersionResponse { string version = 1; string revision = 2; } and a
 * `grpc-status` of 0 in the trailers (or in the headers of a trailers-only answer).
 */
export async function probeVersion(
  address: string,
  timeoutMs: number,
): Promise<{ version: string; revision: string }> {
  const { connect } = await import('node:http2');
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: { version: string; revision: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(value as { version: string; revision: string });
    };
    const session: ClientHttp2Session = connect('http://containerd', {
      createConnection: () => connectSocket(address),
    });
    const timer = setTimeout(
      () => finish(new Error(`Version: no answer on ${address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    // `on`, not `once`: a second error (a reset after a refused stream) must not go unheard.
    session.on('error', (err: Error) => finish(err));
    const call = session.request({
      ':method': 'POST',
      ':path': '/containerd.services.version.v1.Version/Version',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const readStatus = (h: IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    call.on('response', readStatus);
    call.on('trailers', readStatus);
    call.on('data', (chunk: Buffer) => chunks.push(chunk));
    call.on('error', (err: Error) => finish(err));
    call.once('end', () => {
      if (status !== '0')
        return finish(
          new Error(`Version: grpc-status ${status ?? '(none)'}${message ? `: ${message}` : ''}`),
        );
      try {
        finish(null, decodeVersionResponse(Buffer.concat(chunks)));
      } catch (err) {
        finish(err as Error);
      }
    });
    call.end(Buffer.alloc(5));
  });
}

/** VersionResponse from its gRPC frame: fields 1 and 2 (strings); other fields are skipped. */
export function decodeVersionResponse(frame: Buffer): { version: string; revision: string } {
  if (frame.length < 5 || frame[0] !== 0)
    throw new Error('Version: the answer is not one uncompressed gRPC message');
  const length = frame.readUInt32BE(1);
  const msg = frame.subarray(5, 5 + length);
  if (msg.length !== length) throw new Error('Version: the answer is cut short');
  const out = { version: '', revision: '' };
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = msg[i++];
      if (b === undefined || shift > 49) throw new Error('Version: malformed varint');
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (i < msg.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case 0:
        varint();
        break;
      case 1:
        i += 8;
        break;
      case 2: {
        const n = varint();
        const bytes = msg.subarray(i, i + n);
        i += n;
        if (field === 1) out.version = bytes.toString('utf8');
        else if (field === 2) out.revision = bytes.toString('utf8');
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        throw new Error(`Version: unexpected wire type ${tag % 8}`);
    }
  }
  if (i !== msg.length) throw new Error('Version: the answer is cut short');
  return out;
}
