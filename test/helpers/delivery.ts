import { expect } from 'vitest';
import { DeliveryError } from '../../src/destinations/types.ts';

/** The DeliveryError a delivery fails with (fails the test when it succeeds or throws anything else). */
export async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error('expected the delivery to fail');
}
