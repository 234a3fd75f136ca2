/**
 * Manifests as a pull reads them (pure): which kind a document is, which platform an index
 * offers, the config and layers of an image manifest. Docker's rules: distribution/pull_v2.go.
 */

export const mediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  schema1: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Platform {
  os: string;
  architecture: string;
  variant: string | null;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export type ParsedManifest =
  | { kind: 'index'; manifests: (Descriptor & { platform: Platform | null })[] }
  | { kind: 'image'; config: Descriptor; layers: Descriptor[] }
  | { kind: 'error'; message: string };

const digestPattern = /^sha256:[a-f0-9]{64}$/;

function descriptor(v: unknown): Descriptor | null {
  const d = v as { mediaType?: unknown; digest?: unknown; size?: unknown } | null;
  if (!d || typeof d.digest !== 'string' || !digestPattern.test(d.digest)) return null;
  return {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
    digest: d.digest,
    size: typeof d.size === 'number' ? d.size : -1,
  };
}

/** Layer and config media types Docker accepts (checkSupportedMediaType, ImageTypes). */
export function supportedMediaType(mt: string): boolean {
  if (['', 'application/octet-stream', 'application/json', 'text/html'].includes(mt)) return true;
  return ['application/vnd.oci.image', 'application/vnd.docker'].some(
    (p) => mt === p || mt.startsWith(`${p}.`),
  );
}

export function parseManifest(contentType: string, body: string): ParsedManifest {
  let doc: {
    mediaType?: unknown;
    schemaVersion?: unknown;
    manifests?: unknown;
    layers?: unknown;
    config?: unknown;
  };
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch (err) {
    return { kind: 'error', message: `unsupported manifest format: ${(err as Error).message}` };
  }
  const mt =
    typeof doc.mediaType === 'string' ? doc.mediaType : (contentType.split(';')[0]?.trim() ?? '');
  if (mt === mediaTypes.schema1 || doc.schemaVersion === 1)
    return {
      kind: 'error',
      message:
        'statedock does not pull schema1 manifests (deprecated by Docker); push the image again with a current client',
    };
  // CVE-2021-41190: a document that is both an index and a manifest is refused.
  if (Array.isArray(doc.manifests) && (doc.layers !== undefined || doc.config !== undefined))
    return { kind: 'error', message: 'invalid manifest: both manifests and layers or config' };
  if (mt === mediaTypes.dockerList || mt === mediaTypes.ociIndex || Array.isArray(doc.manifests)) {
    const manifests: (Descriptor & { platform: Platform | null })[] = [];
    for (const m of (doc.manifests as unknown[] | undefined) ?? []) {
      const d = descriptor(m);
      if (!d) return { kind: 'error', message: 'invalid manifest list entry' };
      const p = (m as { platform?: { os?: unknown; architecture?: unknown; variant?: unknown } })
        .platform;
      manifests.push({
        ...d,
        platform: p
          ? {
              os: typeof p.os === 'string' ? p.os : '',
              architecture: typeof p.architecture === 'string' ? p.architecture : '',
              variant: typeof p.variant === 'string' && p.variant !== '' ? p.variant : null,
            }
          : null,
      });
    }
    return { kind: 'index', manifests };
  }
  if (
    mt === mediaTypes.dockerManifest ||
    mt === mediaTypes.ociManifest ||
    (doc.config !== undefined && Array.isArray(doc.layers))
  ) {
    const config = descriptor(doc.config);
    if (!config) return { kind: 'error', message: 'invalid manifest: no config descriptor' };
    if (!supportedMediaType(config.mediaType))
      return {
        kind: 'error',
        message: `Encountered remote "${config.mediaType}"(unknown) when fetching`,
      };
    const layers: Descriptor[] = [];
    for (const l of doc.layers as unknown[]) {
      const d = descriptor(l);
      if (!d) return { kind: 'error', message: 'invalid manifest: a layer has no digest' };
      if (!supportedMediaType(d.mediaType))
        return { kind: 'error', message: `unsupported media type ${d.mediaType}` };
      layers.push(d);
    }
    return { kind: 'image', config, layers };
  }
  return { kind: 'error', message: `unsupported manifest format: ${mt || 'no media type'}` };
}

/** containerd's platform normalisation (the part Docker's pull uses). */
export function normalizePlatform(p: Platform): Platform {
  const arch = p.architecture.toLowerCase();
  let architecture = arch;
  let variant = p.variant;
  if (arch === 'x86_64' || arch === 'x86-64') architecture = 'amd64';
  else if (arch === 'aarch64') architecture = 'arm64';
  else if (arch === 'armhf') [architecture, variant] = ['arm', 'v7'];
  else if (arch === 'armel') [architecture, variant] = ['arm', 'v6'];
  if (architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = null;
  if (architecture === 'arm' && variant === null) variant = 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = null;
  return { os: p.os.toLowerCase(), architecture, variant };
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** `os[/arch[/variant]]` as the API's `platform` parameter gives it; null when it does not parse. */
export function parsePlatform(spec: string, daemon: Platform): Platform | null {
  const parts = spec.split('/');
  if (parts.length > 3 || parts.some((p) => p === '')) return null;
  const [os, architecture, variant] = parts as [string, string | undefined, string | undefined];
  return normalizePlatform({
    os,
    architecture: architecture ?? daemon.architecture,
    variant: variant ?? (architecture === undefined ? daemon.variant : null),
  });
}

/** The first entry of an index for the platform (exact os, architecture, variant; arm falls back to no variant). */
export function choosePlatform(
  manifests: (Descriptor & { platform: Platform | null })[],
  want: Platform,
): Descriptor | null {
  const w = normalizePlatform(want);
  const same = (p: Platform | null, variant: boolean): boolean => {
    if (!p) return false;
    const n = normalizePlatform(p);
    return (
      n.os === w.os && n.architecture === w.architecture && (!variant || n.variant === w.variant)
    );
  };
  const exact = manifests.find((m) => same(m.platform, true));
  if (exact) return exact;
  if (w.architecture === 'arm') return manifests.find((m) => same(m.platform, false)) ?? null;
  return null;
}
