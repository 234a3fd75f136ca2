import { checkGoStruct, decodeJsonBody, type GoStruct } from '../../api/go-json.ts';
import { ApiError, type RouteContext } from '../../api/server.ts';

/**
 * The bodies of the network endpoints, read as dockerd's network router reads them: the
 * Content-Type checked (httputils.CheckForJSON), the JSON decoded and each field's type checked
 * with encoding/json's words. dockerd 20.10 answers JSON it cannot read with 500; the mistake
 * is the client's, so statedock answers 400 with the same words, as it does for the other
 * routes and as later dockerd releases do.
 */

const ipamConfig: GoStruct = {
  struct: 'network.IPAMConfig',
  fields: {
    Subnet: 'string',
    IPRange: 'string',
    Gateway: 'string',
    AuxiliaryAddresses: 'map[string]string',
  },
};

/** `types.NetworkCreateRequest` (its embedded NetworkCreate's fields are its own to Go). */
export const networkCreateRequest: GoStruct = {
  struct: 'types.NetworkCreateRequest',
  fields: {
    Name: 'string',
    CheckDuplicate: 'bool',
    Driver: 'string',
    Scope: 'string',
    EnableIPv6: 'bool',
    IPAM: {
      struct: 'network.IPAM',
      fields: { Driver: 'string', Options: 'map[string]string', Config: { slice: ipamConfig } },
    },
    Internal: 'bool',
    Attachable: 'bool',
    Ingress: 'bool',
    ConfigOnly: 'bool',
    ConfigFrom: { struct: 'network.ConfigReference', fields: { Network: 'string' } },
    Options: 'map[string]string',
    Labels: 'map[string]string',
  },
};

/** `types.NetworkConnect`, its `network.EndpointSettings` included. */
export const networkConnect: GoStruct = {
  struct: 'types.NetworkConnect',
  fields: {
    Container: 'string',
    EndpointConfig: {
      struct: 'network.EndpointSettings',
      fields: {
        IPAMConfig: {
          struct: 'network.EndpointIPAMConfig',
          fields: { IPv4Address: 'string', IPv6Address: 'string', LinkLocalIPs: '[]string' },
        },
        Links: '[]string',
        Aliases: '[]string',
        NetworkID: 'string',
        EndpointID: 'string',
        Gateway: 'string',
        IPAddress: 'string',
        IPPrefixLen: 'int',
        IPv6Gateway: 'string',
        GlobalIPv6Address: 'string',
        GlobalIPv6PrefixLen: 'int',
        MacAddress: 'string',
        DriverOpts: 'map[string]string',
      },
    },
  },
};

/** `types.NetworkDisconnect`. */
export const networkDisconnect: GoStruct = {
  struct: 'types.NetworkDisconnect',
  fields: { Container: 'string', Force: 'bool' },
};

/** Reads a network endpoint's JSON body into the Go struct `shape` (Docker's words on failure). */
export async function readNetworkBody(
  ctx: RouteContext,
  shape: GoStruct,
): Promise<Record<string, unknown>> {
  const raw = await ctx.body();
  const contentType = ctx.req.headers['content-type'] ?? '';
  // CheckForJSON: no Content-Type is fine only without a body; otherwise it must be JSON.
  if (
    !(contentType === '' && raw.length === 0) &&
    contentType.split(';')[0]?.trim().toLowerCase() !== 'application/json'
  )
    throw new ApiError(400, `Content-Type specified (${contentType}) must be 'application/json'`);
  return checkGoStruct(decodeJsonBody(raw), shape.struct, shape.fields);
}
