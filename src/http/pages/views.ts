import type { Authenticated, SessionListing } from "../../auth/index.js";
import { deviceName } from "./device-name.js";
import { type Html, html } from "./html.js";

export interface FormState {
  csrfToken: string;
  error?: string | undefined;
  email?: string | undefined;
  displayName?: string | undefined;
}

function layout(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Spillway</title>
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header class="top"><a class="brand" href="/">Spillway</a></header>
<main class="card">
${body}
</main>
</body>
</html>
`.text;
}

function errorBox(message: string | undefined): Html | undefined {
  return message ? html`<p class="error" role="alert">${message}</p>` : undefined;
}

export function registerPage(state: FormState): string {
  return layout(
    "Create account",
    html`<h1>Create an account</h1>
${errorBox(state.error)}
<form method="post" action="/register">
  <input type="hidden" name="_csrf" value="${state.csrfToken}">
  <label>Email <input type="email" name="email" autocomplete="username" required maxlength="254" value="${state.email ?? ""}"></label>
  <label>Name <span class="hint">(optional)</span> <input type="text" name="displayName" autocomplete="name" maxlength="100" value="${state.displayName ?? ""}"></label>
  <label>Password <span class="hint">8 to 256 characters; a phrase of a few words works well</span>
    <input type="password" name="password" autocomplete="new-password" required minlength="8" maxlength="256"></label>
  <button type="submit">Create account</button>
</form>
<p class="alt">Have an account? <a href="/login">Log in</a></p>`,
  );
}

export function loginPage(state: FormState): string {
  return layout(
    "Log in",
    html`<h1>Log in</h1>
${errorBox(state.error)}
<form method="post" action="/login">
  <input type="hidden" name="_csrf" value="${state.csrfToken}">
  <label>Email <input type="email" name="email" autocomplete="username" required maxlength="254" value="${state.email ?? ""}"></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required maxlength="256"></label>
  <button type="submit">Log in</button>
</form>
<p class="alt">New here? <a href="/register">Create an account</a></p>`,
  );
}

const dateFormat = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});
const when = (d: Date) => `${dateFormat.format(d)} UTC`;

export interface AccountState {
  /** What the last action did. */
  notice?: string | undefined;
  /** Why a password change was refused. */
  passwordError?: string | undefined;
}

export function accountPage(
  auth: Authenticated,
  sessions: SessionListing[],
  csrfToken: string,
  { notice, passwordError }: AccountState = {},
): string {
  const { user } = auth;
  const rows = sessions.map(
    (s) => html`<tr${s.current ? html` class="current"` : ""}>
  <td title="${s.userAgent ?? ""}">${deviceName(s.userAgent)}${s.current ? html` <span class="badge">this device</span>` : ""}</td>
  <td>${s.ip ?? ""}</td>
  <td>${when(s.lastSeenAt)}</td>
  <td>${
    s.current
      ? ""
      : html`<form method="post" action="/account/sessions/${s.id}/revoke" class="inline">
    <input type="hidden" name="_csrf" value="${csrfToken}">
    <button type="submit" class="small" aria-label="Revoke session on ${deviceName(s.userAgent)}">Revoke</button>
  </form>`
  }</td>
</tr>`,
  );
  return layout(
    "Account",
    html`<h1>Your account</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : undefined}
<dl class="profile">
  <dt>Name</dt><dd>${user.displayName ?? "—"}</dd>
  <dt>Email</dt><dd id="email">${user.email}</dd>
  <dt>Member since</dt><dd>${when(user.createdAt)}</dd>
</dl>
<h2>Active sessions</h2>
<table class="sessions">
  <thead><tr><th>Device</th><th>Address</th><th>Last active</th><th></th></tr></thead>
  <tbody>${rows}</tbody>
</table>
<div class="actions">
  ${
    sessions.length > 1
      ? html`<form method="post" action="/account/sessions/revoke-others">
    <input type="hidden" name="_csrf" value="${csrfToken}">
    <button type="submit" class="secondary">Log out other sessions</button>
  </form>`
      : undefined
  }
  <form method="post" action="/logout">
    <input type="hidden" name="_csrf" value="${csrfToken}">
    <button type="submit">Log out</button>
  </form>
</div>
<h2 id="password">Change password</h2>
${errorBox(passwordError)}
<form method="post" action="/account/password">
  <input type="hidden" name="_csrf" value="${csrfToken}">
  <input type="email" name="username" autocomplete="username" value="${user.email}" hidden readonly>
  <label>Current password <input type="password" name="currentPassword" autocomplete="current-password" required maxlength="256"></label>
  <label>New password <span class="hint">8 to 256 characters; every other device is logged out</span>
    <input type="password" name="newPassword" autocomplete="new-password" required minlength="8" maxlength="256"></label>
  <button type="submit" class="secondary">Change password</button>
</form>`,
  );
}

export function errorPage(status: number, message: string): string {
  return layout(
    "Error",
    html`<h1>Something went wrong</h1>
<p class="error" role="alert">${message}</p>
<p class="alt">Status ${status}. <a href="/">Back to the start</a></p>`,
  );
}
