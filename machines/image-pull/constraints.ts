import { markedBefore, type Constraint } from '../check/constraints.ts';

/**
 * A pull's orderings: nothing unverified is registered, no image is visible before all its
 * layers are, and no reference moves before its image is complete. A crash at any point then
 * leaves whole layers (maybe unused: collected at the next start) and never a partial image.
 */
export const pullConstraints: Constraint[] = [
  markedBefore(
    'pull.blobVerified',
    'pull.layerRegistered',
    'digest',
    'no layer is registered before its blob matched its digest',
  ),
  markedBefore(
    'pull.layerRegistered',
    'pull.imageRegistered',
    'digest',
    'no image is visible before all its layers are registered',
    'layers',
  ),
  markedBefore(
    'pull.imageRegistered',
    'pull.referenceSet',
    'id',
    'a tag or digest reference moves only after its image is complete',
  ),
];
