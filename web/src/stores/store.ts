// A value that components and other stores watch: the console's one state primitive.

/** A watched value. */
export interface Store<T> {
  get(): T;
  set(value: T): void;
  update(change: (value: T) => T): void;
  /** Calls `watch` on every change; returns the unsubscribe function. */
  subscribe(watch: (value: T) => void): () => void;
}

/** A store holding `initial`. */
export function store<T>(initial: T): Store<T> {
  let value = initial;
  const watchers = new Set<(value: T) => void>();
  const set = (next: T) => {
    if (Object.is(next, value)) return;
    value = next;
    for (const w of [...watchers]) w(value);
  };
  return {
    get: () => value,
    set,
    update: (change) => set(change(value)),
    subscribe(watch) {
      watchers.add(watch);
      return () => watchers.delete(watch);
    },
  };
}
