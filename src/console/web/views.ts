// The admin API's answers as the console reads them: the types of the API's own response
// schemas (type imports only: nothing of the server is bundled into the page).

import type { Static } from 'typebox';
import type {
  AddonDefinitionBody,
  AuditRecordBody,
  Explanation,
  OverrideBody,
  PolicyBody,
  PolicyImpactBody,
  PolicyIssueBody,
  TenantBody,
  TenantDetailBody,
} from '../../admin/admin-schemas.js';
import type { FeatureValue } from '../../policy/types.js';

export type { FeatureValue };
export type TenantView = Static<typeof TenantBody>;
/** One tenant; sections the console does not know (meters, billing…) are shown as they come. */
export type TenantDetailView = Static<typeof TenantDetailBody> & Readonly<Record<string, unknown>>;
export type FeatureDecisionView = Static<typeof Explanation>;
export type OverrideView = Static<typeof OverrideBody>;
export type PolicyIssueView = Static<typeof PolicyIssueBody>;
export type PolicyView = Static<typeof PolicyBody>;
export type PolicyImpactView = Static<typeof PolicyImpactBody>;
export type AuditView = Static<typeof AuditRecordBody>;
export type AddonDefinitionView = Static<typeof AddonDefinitionBody>;

/** One add-on row a tenant holds (GET /api/admin/tenants/:id/addons). */
export interface TenantAddonView {
  readonly addon: string;
  readonly quantity: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The subscription whose item gives it; absent when an operator set it. */
  readonly billing?: { readonly provider: string; readonly subscriptionId: string };
}

/** A feature value in words. */
export function valueText(value: FeatureValue | null | undefined): string {
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (value === null || value === undefined) return '—';
  return String(value);
}
