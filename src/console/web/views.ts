// The admin API's answers as the console reads them (a subset of the OpenAPI document at /docs).

export type FeatureValue = boolean | number | string;

export interface TenantView {
  readonly id: string;
  readonly name: string;
  readonly plan: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Other sections (connections, meters, billing…) are shown as they come. */
  readonly [section: string]: unknown;
}

export interface FeatureDecisionView {
  readonly feature: string;
  readonly featureName: string;
  readonly type: string;
  readonly value: FeatureValue;
  readonly granted: boolean;
  readonly source: string;
  readonly cause: string;
}

export interface OverrideView {
  readonly tenantId: string;
  readonly feature: string;
  readonly value: FeatureValue;
  readonly reason: string;
  readonly actor: string;
  readonly expiresAt: string | null;
  readonly version: number;
  readonly active: boolean;
}

export interface PolicyIssueView {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly text: string;
}

export interface PolicyView {
  readonly directory: string;
  readonly files: readonly string[];
  readonly version: string;
  readonly loadedAt: string;
  readonly lastError: { readonly at: string; readonly issues: readonly PolicyIssueView[] } | null;
  readonly features: readonly { readonly key: string; readonly name: string; readonly type: string; readonly values?: readonly string[]; readonly default: FeatureValue }[];
  readonly plans: readonly { readonly key: string; readonly name: string }[];
}

export interface AuditView {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly tenantId: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: string;
  readonly details?: Record<string, unknown>;
  readonly hash: string;
}

/** A feature value in words. */
export function valueText(value: FeatureValue | null | undefined): string {
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (value === null || value === undefined) return '—';
  return String(value);
}
