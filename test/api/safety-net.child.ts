// Run by safety-net.test.ts in a process of its own: an API server whose routes throw where
// no handler can catch, with the daemon's safety net installed.
import { ApiServer, pingRoutes } from '../../src/api/server.ts';
import { createLogger } from '../../src/daemon/logger.ts';
import { installSafetyNet } from '../../src/daemon/safety-net.ts';

const sock = process.argv[2] as string;
const log = createLogger('info', (l) => process.stdout.write(l));
installSafetyNet(log, () => {
  process.stdout.write('FATAL-EXIT\n');
  process.exit(7);
});
const api = new ApiServer({ serverHeader: 'test' });
for (const r of pingRoutes()) api.add(r);
api.add({
  method: 'GET',
  pattern: '/throw/timer',
  handler: () => {
    setTimeout(() => {
      throw new Error('thrown by a timer the handler set');
    }, 10);
  },
});
api.add({
  method: 'POST',
  pattern: '/throw/hijacked',
  handler: () => undefined,
  hijack: (ctx) => {
    ctx.socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    ctx.socket.on('data', () => {
      throw new Error('thrown by a hijacked socket listener');
    });
  },
});
// The daemon's own work: a timer set before any request, armed by one.
let armed = false;
setInterval(() => {
  if (!armed) return;
  armed = false;
  throw new Error('thrown by the daemon itself');
}, 20);
api.add({
  method: 'POST',
  pattern: '/throw/daemon',
  handler: (ctx) => {
    armed = true;
    ctx.noContent();
  },
});
await api.listen([sock]);
process.stdout.write('READY\n');
