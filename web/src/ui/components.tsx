// Pieces every page uses: loading and error states, status badges, form fields.

import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api/client';
import type { Resource } from './hooks';

/** A spinner line while something loads. */
export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** An error, saying which permission is missing for a 403. */
export function ErrorBox({ error, retry }: { error: ApiError; retry?: () => void }) {
  const permission = error.permission;
  return (
    <div class="error" role="alert">
      {error.status === 403 ? (
        <p>
          <strong>Not allowed.</strong> {permission ? <>This needs the permission <code>{permission}</code>, which your role does not have.</> : error.message}
        </p>
      ) : error.status === 0 ? (
        <p>
          <strong>The node cannot be reached.</strong> {error.message}
        </p>
      ) : (
        <p>
          <strong>{error.field ? `${error.field}: ` : ''}</strong>
          {error.message}
        </p>
      )}
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Shows a resource: loading, its error, or `children(data)`. */
export function Show<T>({ r, what, children }: { r: Resource<T>; what: string; children: (data: T) => ComponentChildren }) {
  if (r.data !== undefined) {
    return (
      <>
        {r.error && <ErrorBox error={r.error} retry={r.reload} />}
        {children(r.data)}
      </>
    );
  }
  if (r.error) return <ErrorBox error={r.error} retry={r.reload} />;
  return <Loading what={what} />;
}

/** A coloured state word (`streaming`, `backoff`, `open`...). */
export function Badge({ state, title }: { state: string; title?: string }) {
  return (
    <span class={`badge s-${state}`} title={title}>
      {state.replace(/_/g, ' ')}
    </span>
  );
}

/** A labelled form field. */
export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
      {hint && <small>{hint}</small>}
    </label>
  );
}

/** A page's heading and its actions. */
export function Header({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-head">
      <h1>{title}</h1>
      {children && <div class="actions">{children}</div>}
    </div>
  );
}

/** A form's error, when it has one. */
export function FormError({ error }: { error?: ApiError }) {
  return error ? <ErrorBox error={error} /> : null;
}

/** A list table: a caption (for screen readers unless `shown`), its column headings (an empty one
 *  is an actions column), and its rows. It scrolls sideways on a narrow screen. */
export function Table({ caption, columns, shown, children }: { caption: string; columns: string[]; shown?: boolean; children: ComponentChildren }) {
  return (
    <table class="list" tabIndex={0}>
      <caption class={shown ? undefined : 'sr-only'}>{caption}</caption>
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th key={i} scope="col">
              {c || <span class="sr-only">Actions</span>}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
