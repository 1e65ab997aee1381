// Store operation latency without touching the store: every repository method that returns a
// promise is timed into a histogram labelled "repository.method". Works for any store shape
// (both dialects, and whatever repositories the store grows), since it wraps at the contract.

import type { Histogram } from 'prom-client';

type Observe = Histogram<'operation' | 'outcome'>;

/**
 * The store with each repository wrapped. Methods are called on the real repository (private
 * fields stay reachable); a method that does not return a promise passes through untimed.
 */
export function instrumentStore<S extends object>(store: S, histogram: Observe): S {
  const repositories = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string') return value;
      // The store's own methods (afterWrite, close) run on the store itself: its private fields.
      if (typeof value === 'function') {
        let bound = repositories.get(property);
        if (bound === undefined) repositories.set(property, (bound = value.bind(target)));
        return bound;
      }
      if (typeof value !== 'object' || value === null) return value;
      let wrapped = repositories.get(property);
      if (wrapped === undefined)
        repositories.set(property, (wrapped = instrumentRepository(value, property, histogram)));
      return wrapped;
    },
  });
}

function instrumentRepository(repository: object, name: string, histogram: Observe): object {
  const methods = new Map<PropertyKey, unknown>();
  return new Proxy(repository, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      let wrapped = methods.get(property);
      if (wrapped === undefined) {
        const operation = `${name}.${property}`;
        const ok = histogram.labels({ operation, outcome: 'ok' });
        const failed = histogram.labels({ operation, outcome: 'error' });
        wrapped = function timed(...args: unknown[]): unknown {
          const started = performance.now();
          const result: unknown = Reflect.apply(value, target, args);
          if (!(result instanceof Promise)) return result;
          return result.then(
            (resolved: unknown) => {
              ok.observe((performance.now() - started) / 1000);
              return resolved;
            },
            (error: unknown) => {
              failed.observe((performance.now() - started) / 1000);
              throw error;
            },
          );
        };
        methods.set(property, wrapped);
      }
      return wrapped;
    },
  });
}
