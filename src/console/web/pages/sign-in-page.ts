// Sign-in: an admin API token is exchanged for a session cookie; the token is not kept by the page.

import { call } from '../api.js';
import { field, h, replace } from '../dom.js';
import { problem, type PageContext, type Session } from '../page.js';

export async function signInPage(context: PageContext, notice?: string): Promise<void> {
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const error = h('div', { role: 'alert' });
  const form = h(
    'form',
    {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        replace(error);
        try {
          const { body } = await call<Session>('POST', '/console/session', { body: { token: token.value.trim() } });
          token.value = '';
          context.signedIn(body);
        } catch (failure) {
          replace(error, h('p', { class: 'alert' }, `Sign-in failed: ${problem(failure)}`));
          token.focus();
        }
      },
    },
    field(
      'Admin API token',
      token,
      'An admin token (entitle tokens create --role admin). It is exchanged for a session and not stored by this page.',
    ),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  replace(context.main, h('h1', { tabindex: -1 }, 'Sign in'), notice ? h('p', { class: 'ok' }, notice) : null, form);
}
