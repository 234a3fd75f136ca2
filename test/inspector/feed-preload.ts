// Loaded with --import into a daemon the browser test starts from source: mounts the inspection
// feed on the daemon's API server, before its first actor, unless the daemon mounts it itself.
import { Session } from '../../effects/runner.ts';
import { machines } from '../../machines/registry.ts';
import { ApiServer, type Route } from '../../src/api/server.ts';
import { registerInspectionFeed } from '../../src/daemon/inspection-feed.ts';

let server: ApiServer | null = null;
let mountedByDaemon = false;
let done = false;

const add = ApiServer.prototype.add;
ApiServer.prototype.add = function (this: ApiServer, route: Route): void {
  server ??= this;
  if (route.pattern === '/statedock/records') mountedByDaemon = true;
  add.call(this, route);
};

const spawn = Session.prototype.spawn;
Session.prototype.spawn = function (this: Session, ...args: Parameters<Session['spawn']>) {
  if (!done) {
    done = true;
    if (server && !mountedByDaemon) {
      registerInspectionFeed(server, this, machines);
      process.stderr.write(
        'feed-preload: the daemon does not mount the inspection feed itself; mounted it\n',
      );
    }
  }
  return spawn.apply(this, args);
};
