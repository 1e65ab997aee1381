// A tenant's open reservations on its page: what each holds, who made it, until when, and a
// button to release it (the admin API's audited release).

import { call } from '../api.js';
import { h, replace, table, when } from '../dom.js';
import { problem } from '../page.js';

export interface ReservationView {
  readonly id: string;
  readonly feature: string;
  readonly amount: number;
  readonly holder: string | null;
  readonly expiresAt: string;
  readonly createdAt: string;
}

/** The section, with `released` called (to reload the page) after a release. */
export function reservationsSection(
  base: string,
  reservations: readonly ReservationView[],
  released: (message: string) => Promise<void>,
): HTMLElement {
  const message = h('div', { role: 'alert' });
  const release = async (reservation: ReservationView) => {
    replace(message);
    try {
      await call('POST', `${base}/usage/reservations/${encodeURIComponent(reservation.id)}/release`);
      await released(`Released ${reservation.amount} ${reservation.feature} held by ${reservation.id}.`);
    } catch (error) {
      replace(message, h('p', { class: 'alert' }, `Not released: ${problem(error)}`));
    }
  };
  const rows = reservations.map((reservation) => [
    h('code', {}, reservation.id),
    reservation.feature,
    String(reservation.amount),
    reservation.holder ?? '—',
    when(reservation.createdAt),
    when(reservation.expiresAt),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'aria-label': `Release reservation ${reservation.id}`,
        onclick: () => void release(reservation),
      },
      'Release',
    ),
  ]);
  return h(
    'section',
    { 'aria-labelledby': 'reservations-heading' },
    h('h2', { id: 'reservations-heading' }, 'Open reservations'),
    table(
      'Units held for work in progress; a reset of a meter releases its reservations too',
      ['Reservation', 'Meter', 'Units', 'Made by', 'Made', 'Expires', 'Action'],
      rows,
      'none: no units are held.',
    ),
    message,
  );
}
