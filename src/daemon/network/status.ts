/**
 * The HTTP status dockerd answers a failed start with when its network failed (network-facts.md
 * §4 and §6.2): the container machine reports a start failure as one kind, this tells them apart.
 */
export function startFailureStatus(message: string): number {
  if (
    /^driver failed programming external connectivity|^failed to create endpoint|^Error starting userland proxy/.test(
      message,
    )
  )
    return 500;
  if (message === 'Address already in use') return 403;
  if (/^network \S+ not found$/.test(message)) return 404;
  if (/^cannot join network of a non running container/.test(message)) return 409;
  return 400;
}
