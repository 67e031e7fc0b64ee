import type { Store } from '../store/store.js';
import type { Clock } from '../util/clock.js';

/** What every domain rule needs: the store and the server's clock. Nothing about HTTP. */
export interface DomainContext {
  store: Store;
  clock: Clock;
}
