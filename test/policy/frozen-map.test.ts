import { describe, expect, it } from 'vitest';
import { FrozenMap, FrozenMapError } from '../../src/policy/frozen-map.js';

describe('FrozenMap', () => {
  it('reads like the Map it was built from, in insertion order', () => {
    const map = new FrozenMap([
      ['free', 1],
      ['pro', 2],
    ]);
    expect(map).toBeInstanceOf(Map);
    expect({
      free: map.get('free'),
      gold: map.get('gold'),
      hasPro: map.has('pro'),
      size: map.size,
      entries: [...map],
    }).toEqual({
      free: 1,
      gold: undefined,
      hasPro: true,
      size: 2,
      entries: [
        ['free', 1],
        ['pro', 2],
      ],
    });
  });

  it('refuses set, delete and clear with a coded error, and changes nothing', () => {
    const map = new FrozenMap([['free', 1]]);
    expect(() => map.set('pro', 2)).toThrow(FrozenMapError);
    expect(() => map.delete('free')).toThrow(
      expect.objectContaining({ code: 'ENT_ERR_FROZEN_MAP', message: expect.stringContaining('cannot delete') }),
    );
    expect(() => map.clear()).toThrow(FrozenMapError);
    expect([...map]).toEqual([['free', 1]]);
  });

  it('cannot have its methods replaced', () => {
    const map = new FrozenMap([['free', 1]]);
    expect(Object.isFrozen(map)).toBe(true);
    expect(() => Object.defineProperty(map, 'set', { value: () => map })).toThrow(TypeError);
  });
});
