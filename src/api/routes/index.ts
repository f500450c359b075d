/**
 * Every route plugin of the API, registered in this order. To add routes, write a RoutePlugin in this
 * folder (or next to the code it serves) and add one line here.
 */
import { connectionTestRoutes } from './connection-tests.js';
import { destinationRoutes } from './destinations.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';
import { modelRoutes } from './models.js';
import { oidcRoutes } from './oidc.js';
import { policyRoutes } from './policies.js';
import { recipientRoutes } from './recipients.js';
import { setupLinkRoutes } from './setup-links.js';
import { setupPageRoutes } from '../setup/page.js';
import { triggerRoutes } from './trigger.js';
import { transferRoutes } from './transfers.js';
import type { RoutePlugin } from '../types.js';

/** Sluice's OIDC discovery and JWKS (public; registered only when the identity is Sluice's own issuer). */
const oidcIssuerRoutes: RoutePlugin = {
  name: 'oidc',
  async register(app, { identity }) {
    await app.register(oidcRoutes, { identity });
  },
};

export const routes: RoutePlugin[] = [
  healthRoutes,
  oidcIssuerRoutes,
  recipientRoutes,
  destinationRoutes,
  connectionTestRoutes,
  policyRoutes,
  metricsRoutes,
  triggerRoutes,
  transferRoutes,
  modelRoutes,
  setupLinkRoutes,
  setupPageRoutes,
];
