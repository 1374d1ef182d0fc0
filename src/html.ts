// HTML escaping, for the sign-in pages and the mail templates alike: every character that could end a text
// or an attribute value becomes a character reference.

export const escapeHtml = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
