import { describe, expect, it } from 'vitest';
import { anchoredPeriodAt, LIFETIME_START, periodAt } from '../../src/usage/period.js';

const at = (iso: string): number => Date.parse(iso);

describe('meter periods (UTC calendar boundaries)', () => {
  it('puts the last millisecond of a month in that month and its boundary in the next', () => {
    expect(periodAt('month', at('2026-01-31T23:59:59.999Z'))).toEqual({
      start: '2026-01-01T00:00:00.000Z',
      end: '2026-02-01T00:00:00.000Z',
    });
    expect(periodAt('month', at('2026-02-01T00:00:00.000Z'))).toEqual({
      start: '2026-02-01T00:00:00.000Z',
      end: '2026-03-01T00:00:00.000Z',
    });
  });

  it('rolls December over into the next year and knows leap February', () => {
    expect(periodAt('month', at('2026-12-15T10:00:00Z'))).toEqual({
      start: '2026-12-01T00:00:00.000Z',
      end: '2027-01-01T00:00:00.000Z',
    });
    expect(periodAt('month', at('2028-02-29T12:00:00Z'))).toEqual({
      start: '2028-02-01T00:00:00.000Z',
      end: '2028-03-01T00:00:00.000Z',
    });
  });

  it('starts weeks on Monday 00:00 UTC', () => {
    // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
    expect(periodAt('week', at('2026-11-29T23:59:59.999Z'))).toEqual({
      start: '2026-11-23T00:00:00.000Z',
      end: '2026-11-30T00:00:00.000Z',
    });
    expect(periodAt('week', at('2026-11-30T00:00:00.000Z'))).toEqual({
      start: '2026-11-30T00:00:00.000Z',
      end: '2026-12-07T00:00:00.000Z',
    });
  });

  it('cuts days and hours at UTC boundaries, whatever the local time zone', () => {
    expect(periodAt('day', at('2026-03-29T01:30:00+02:00'))).toEqual({
      start: '2026-03-28T00:00:00.000Z',
      end: '2026-03-29T00:00:00.000Z',
    });
    expect(periodAt('hour', at('2026-03-29T01:59:59.999Z'))).toEqual({
      start: '2026-03-29T01:00:00.000Z',
      end: '2026-03-29T02:00:00.000Z',
    });
  });

  it('gives a lifetime allowance one period that never ends', () => {
    expect(periodAt('none', at('2030-05-05T05:05:05Z'))).toEqual({ start: LIFETIME_START, end: null });
  });
});

describe('periods counted from a billing cycle anchor (reset: billing)', () => {
  it('resets monthly on the anchor day and time, on the last day of shorter months', () => {
    const anchor = at('2026-01-31T10:00:00.000Z');
    expect(anchoredPeriodAt('month', anchor, at('2026-02-15T00:00:00.000Z'))).toEqual({
      start: '2026-01-31T10:00:00.000Z',
      end: '2026-02-28T10:00:00.000Z',
    });
    expect(anchoredPeriodAt('month', anchor, at('2026-02-28T10:00:00.000Z'))).toEqual({
      start: '2026-02-28T10:00:00.000Z',
      end: '2026-03-31T10:00:00.000Z',
    });
    expect(anchoredPeriodAt('month', anchor, at('2026-03-31T09:59:59.999Z'))).toEqual({
      start: '2026-02-28T10:00:00.000Z',
      end: '2026-03-31T10:00:00.000Z',
    });
    expect(anchoredPeriodAt('month', anchor, at('2028-02-29T12:00:00.000Z'))).toEqual({
      start: '2028-02-29T10:00:00.000Z',
      end: '2028-03-31T10:00:00.000Z',
    });
  });

  it('steps whole hours, days and weeks from the anchor, before it too', () => {
    const anchor = at('2026-03-04T07:30:00.000Z');
    expect(anchoredPeriodAt('day', anchor, at('2026-03-10T07:29:00.000Z'))).toEqual({
      start: '2026-03-09T07:30:00.000Z',
      end: '2026-03-10T07:30:00.000Z',
    });
    expect(anchoredPeriodAt('week', anchor, at('2026-03-11T07:30:00.000Z'))).toEqual({
      start: '2026-03-11T07:30:00.000Z',
      end: '2026-03-18T07:30:00.000Z',
    });
    expect(anchoredPeriodAt('hour', anchor, at('2026-03-04T06:00:00.000Z'))).toEqual({
      start: '2026-03-04T05:30:00.000Z',
      end: '2026-03-04T06:30:00.000Z',
    });
    expect(anchoredPeriodAt('none', anchor, at('2026-03-04T06:00:00.000Z'))).toEqual({
      start: LIFETIME_START,
      end: null,
    });
  });
});
