// A numbered schema change: each dialect lists its own DDL, applied in order at open.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

