/**
 * The Distribution API v2, as effects. A pull or push opens a session (endpoint chosen,
 * credentials applied, token fetched); every later request names the session, so neither
 * credentials nor tokens ever appear in a trace (`credentials` is the key under which the
 * API layer put them in the handler's vault).
 */
export type RegistryRequest =
  /** Chooses the endpoint (mirrors first for Docker Hub, https then http when insecure), pings `/v2/`, authorises for `actions`. */
  | {
      effect: 'registry.open';
      session: string;
      domain: string;
      repository: string;
      actions: ('pull' | 'push')[];
      credentials: string | null;
      /** Push and login never use mirrors. */
      mirrors: boolean;
    }
  /** GET a manifest (tag or digest) with the manifest media types Docker accepts. */
  | { effect: 'registry.getManifest'; session: string; reference: string }
  /**
   * GET a blob into `path`, from byte `offset` (a Range request resuming a cut download). The
   * digest of the whole file is computed, not checked: the machine compares it.
   */
  | {
      effect: 'registry.fetchBlob';
      session: string;
      digest: string;
      size: number;
      path: string;
      offset: number;
    }
  /** HEAD a blob (push: is it there already?). */
  | { effect: 'registry.blobExists'; session: string; digest: string }
  /** Cross-repository mount (`POST …/blobs/uploads/?mount=&from=`). */
  | { effect: 'registry.mountBlob'; session: string; digest: string; from: string }
  /**
   * Uploads a blob: a file (gzip-compressed on the way when `gzip`) in one chunked PATCH then
   * PUT `?digest=`, or small content in one monolithic PUT.
   */
  | {
      effect: 'registry.uploadBlob';
      session: string;
      source: { path: string; gzip: boolean } | { content: string };
      /** Tracks progress under this id (the layer's short ID in the push stream). */
      progressId: string;
    }
  | {
      effect: 'registry.putManifest';
      session: string;
      reference: string;
      mediaType: string;
      body: string;
    }
  /** `docker login`: checks the credentials against the registry's `/v2/`. */
  | { effect: 'registry.login'; serverAddress: string; credentials: string }
  /** Ends a session: its in-flight requests are aborted (a cancelled pull), its token forgotten. */
  | { effect: 'registry.close'; session: string };

export type FetchBlobResult =
  | { complete: true; digest: string; size: number; resumedFrom: number }
  /** The transfer stopped (connection cut, 429, 5xx): `have` bytes are in the file. */
  | { complete: false; have: number; retryAfterMs: number | null; reason: string };

export interface RegistryResults {
  'registry.open': { endpoint: string; auth: 'none' | 'basic' | 'bearer'; mirror: boolean };
  'registry.getManifest': { digest: string; mediaType: string; body: string };
  'registry.fetchBlob': FetchBlobResult;
  'registry.blobExists': { exists: boolean; size: number };
  'registry.mountBlob': { mounted: boolean };
  'registry.uploadBlob': { digest: string; size: number };
  'registry.putManifest': { digest: string };
  'registry.login': { status: string; identityToken: string };
  'registry.close': Record<string, never>;
}
