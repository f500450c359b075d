/**
 * Every route plugin of the API, registered in this order. To add routes, write a RoutePlugin in this
 * folder (or next to the code it serves) and add one line here.
 */
import { destinationRoutes } from './destinations.js';
import { healthRoutes } from './health.js';
import { recipientRoutes } from './recipients.js';
import type { RoutePlugin } from '../types.js';

export const routes: RoutePlugin[] = [healthRoutes, recipientRoutes, destinationRoutes];
