// Hooks that connect components to stores and to the API.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import type { Store } from '../stores/store';

/** The value of `s`, re-rendering on change. */
export function useStore<T>(s: Store<T>): T {
  const [value, setValue] = useState(s.get());
  useEffect(() => {
    setValue(s.get());
    return s.subscribe(setValue);
  }, [s]);
  return value;
}

/** What a loader gives a page: its data, its error, whether it loads, and a reload. */
export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Loads with `load` when `deps` change, and every `everyMs` when given. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (e) =>
        mine === generation.current &&
        setState((s) => ({ data: s.data, error: asApiError(e), loading: false })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    run();
    if (!everyMs) return () => generation.current++;
    const timer = setInterval(run, everyMs);
    return () => {
      generation.current++;
      clearInterval(timer);
    };
  }, [run, everyMs]);
  return { data: state.data, error: state.error, loading: state.loading, reload: run };
}

/** A form's submit: runs `action`, holds its error and whether it runs. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const run = async (...args: A): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await action(...args);
      return true;
    } catch (e) {
      setError(asApiError(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clear: () => setError(undefined) };
}

/** Any thrown value as an ApiError. */
export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'error', e instanceof Error ? e.message : String(e));
}

/** A form's fields: their values, a change handler per field for inputs, and a setter. */
export function useFields<T extends object>(initial: T) {
  const [fields, setFields] = useState<T>(initial);
  const bind = (k: keyof T) => (e: Event) => setFields((f) => ({ ...f, [k]: (e.target as HTMLInputElement).value }));
  return [fields, bind, setFields] as const;
}
