/**
 * How a create request can be wrong, as dockerd answers it: a value its JSON decoder cannot
 * put in the field's Go type, or an option it refuses. Both are the client's mistake and
 * answer 400 (dockerd 20.10 answers the first with 500; later dockerd with 400). The API
 * layer maps them to HTTP statuses; the messages are Docker's.
 */

/**
 * A value dockerd's JSON decoder cannot put in the field's Go type (`json: cannot unmarshal
 * …`), or a malformed `-v` bind specification.
 */
export class MalformedRequest extends Error {
  override name = 'MalformedRequest';
}

/** An option refused: invalid, conflicting, or one statedock does not support (400). */
export class InvalidRequest extends Error {
  override name = 'InvalidRequest';
}

/** A container a request names does not exist (404, `No such container: …`). */
export class NoSuchContainer extends Error {
  override name = 'NoSuchContainer';
}
