/**
 * How a create request can be wrong, as dockerd answers it: a value its JSON decoder cannot
 * put in the field's Go type is a 500 (Go's json error text); an option it refuses is a 400.
 * The API layer maps these two to HTTP statuses; the messages are Docker's.
 */

/**
 * A mistake dockerd answers with 500: a value its JSON decoder cannot put in the field's Go
 * type (`json: cannot unmarshal …`), or a malformed `-v` bind specification.
 */
export class Status500Error extends Error {
  override name = 'Status500Error';
}

/** An option refused: invalid, conflicting, or one statedock does not support (400). */
export class InvalidRequest extends Error {
  override name = 'InvalidRequest';
}

/** A container a request names does not exist (404, `No such container: …`). */
export class NoSuchContainer extends Error {
  override name = 'NoSuchContainer';
}
