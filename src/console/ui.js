// Small shared pieces of the console: html (htm bound to preact), a data loader with its loading, empty and
// error states, cursor paging, dialogs (the native <dialog>: focus kept inside, Escape closes), a secret shown
// once with a copy button, form fields with their errors, dates as people read them.
import { h } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { base } from './api.js';

export const html = htm.bind(h);

export const when = (d) => (d ? new Date(d).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '—');

/** Loads with `fn` (again when `deps` change, or on reload()); { data, error, loading, reload }. */
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const load = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    fn().then((data) => { if (n === seq.current) setState({ data, error: null, loading: false }); },
      (error) => { if (n === seq.current) setState({ data: null, error, loading: false }); });
  }, deps);
  useEffect(load, [load]);
  return { ...state, reload: load };
}

/** What a list shows while loading, when it failed, and when it is empty (with what to do). */
export function ListState({ state, empty, children }) {
  if (state.loading && !state.data) return html`<p class="muted" role="status">Loading…</p>`;
  if (state.error) return html`<p class="error" role="alert">${state.error.message} <button type="button" class="link" onClick=${state.reload}>Try again</button></p>`;
  if (state.data && (state.data.items ?? state.data).length === 0) return html`<p class="empty">${empty}</p>`;
  return children;
}

export function Link({ to, children, ...rest }) {
  const href = `${base}${to}`;
  return html`<a href=${href} ...${rest} onClick=${(e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(to);
  }}>${children}</a>`;
}

export function navigate(to) {
  history.pushState(null, '', `${base}${to}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** Pages through a list answered with nextCursor: { state (as useLoad's), pager, page, reset }. */
export function useCursorList(load, deps, { previous = 'Newer', next = 'Older' } = {}) {
  const [cursors, setCursors] = useState([null]);
  const cursor = cursors[cursors.length - 1];
  const state = useLoad(() => load(cursor), [...deps, cursor]);
  const pager = html`<nav class="pager" aria-label="Pages">
    <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>${previous}</button>
    <span>Page ${cursors.length}</span>
    <button type="button" disabled=${!state.data?.nextCursor} onClick=${() => setCursors([...cursors, state.data.nextCursor])}>${next}</button></nav>`;
  return { state, pager, page: cursors.length, reset: () => setCursors([null]) };
}

/** A modal dialog; `open` controls it, `onClose` is called on Escape or Cancel. */
export function Dialog({ open, title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const id = `dialog-${title.replace(/\W+/g, '-').toLowerCase()}`;
  // Only `close`: Escape closes the native dialog, which then fires `close` (listening to `cancel` as well
  // would call onClose twice).
  return html`<dialog ref=${ref} aria-labelledby=${id} onClose=${onClose}>
    ${open ? html`<h2 id=${id}>${title}</h2>${children}` : null}
  </dialog>`;
}

/** A confirmation that says what will happen. */
export function Confirm({ open, title, message, action, danger, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  return html`<${Dialog} open=${open} title=${title} onClose=${onClose}>
    <p>${message}</p>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <div class="actions">
      <button type="button" class=${danger ? 'danger' : 'primary'} disabled=${busy} onClick=${async () => {
        setBusy(true); setError(null);
        try { await onConfirm(); onClose(); } catch (e) { setError(e.message); } finally { setBusy(false); }
      }}>${busy ? 'Working…' : action}</button>
      <button type="button" onClick=${onClose}>Cancel</button>
    </div>
  <//>`;
}

/** A secret shown this once, with a copy button. */
export function Secret({ label, value }) {
  const [copied, setCopied] = useState(false);
  return html`<div class="secret">
    <p><strong>${label}</strong>: shown only now. Copy it somewhere safe.</p>
    <code class="secret-value" tabindex="0">${value}</code>
    <button type="button" onClick=${async () => { await navigator.clipboard?.writeText(value); setCopied(true); }}>${copied ? 'Copied' : 'Copy'}</button>
    <span class="sr-only" role="status">${copied ? 'Copied to the clipboard' : ''}</span>
  </div>`;
}

/** A dialog showing a secret this once: `text` (optional) above it, the secret if there is a `value`, and Done. */
export function SecretDialog({ title, text, label, value, onClose }) {
  return html`<${Dialog} open=${true} title=${title} onClose=${onClose}>
    ${text ? html`<p>${text}</p>` : null}${value ? html`<${Secret} label=${label} value=${value} />` : null}
    <div class="actions"><button type="button" class="primary" onClick=${onClose}>Done</button></div><//>`;
}

/** A labelled field; `error` marks it invalid and says why. */
export function Field({ id, label, hint, error, children }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${children}
    ${hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${`${id}-error`} role="alert">${error}</p>` : null}
  </div>`;
}

/** The error of one field among an ApiError's `errors`, by the field's name. */
export const fieldError = (error, name) => error?.errors?.find((e) => e.field === name || e.field.startsWith(`${name}.`) || e.field.startsWith(`${name}[`))?.message;

/** A status line announced to screen readers (after an action). */
export function Notice({ message }) {
  return html`<p class="notice" role="status">${message ?? ''}</p>`;
}
