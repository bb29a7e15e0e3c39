// The console's one client and session.

import { Client } from './api/client';
import { Session } from './stores/session';

/** The API client every page uses. */
export const client = new Client();
/** The signed-in user. */
export const session = new Session(client);
