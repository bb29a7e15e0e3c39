// Who is signed in, what they may do, and which tenant a platform admin is looking at.

import { ApiError, Client } from '../api/client';
import type { Me, Tenant } from '../api/types';
import { store, type Store } from './store';

/** The session's state. */
export interface SessionState {
  /** `unknown` until the refresh cookie has been tried once. */
  status: 'unknown' | 'signed_out' | 'signed_in';
  me: Me | null;
  /** The tenant shown: the user's own, or the one a platform admin picked (null: all). */
  tenant: string | null;
  /** Tenants a platform admin can switch between. */
  tenants: Tenant[];
}

/** The session store and its actions. */
export class Session {
  readonly state: Store<SessionState>;

  constructor(readonly client: Client) {
    this.state = store<SessionState>({ status: 'unknown', me: null, tenant: null, tenants: [] });
    client.onSignedOut = () => this.forget();
  }

  /** Signs in with a password. */
  async signIn(email: string, password: string): Promise<void> {
    await this.client.login(email, password);
    await this.load();
  }

  /** Resumes the session the refresh cookie holds, if any (a reload keeps the user signed in). */
  async restore(): Promise<boolean> {
    if (!(await this.client.refresh())) {
      this.forget();
      return false;
    }
    try {
      await this.load();
      return true;
    } catch {
      this.forget();
      return false;
    }
  }

  /** Signs out everywhere this session was used. */
  async signOut(): Promise<void> {
    try {
      await this.client.logout();
    } finally {
      this.forget();
    }
  }

  /** Whether the user has `permission` (`cameras:write`). */
  can(permission: string): boolean {
    return this.state.get().me?.permissions.includes(permission) ?? false;
  }

  /** Whether the user is a platform admin. */
  get platformAdmin(): boolean {
    return this.state.get().me?.role === 'platform_admin';
  }

  /** Shows `tenant` (platform admins only; null shows every tenant). */
  selectTenant(tenant: string | null): void {
    if (!this.platformAdmin) return;
    this.state.update((s) => ({ ...s, tenant }));
  }

  private async load(): Promise<void> {
    const me = await this.client.get<Me>('/auth/me');
    let tenants: Tenant[] = [];
    if (me.role === 'platform_admin') {
      tenants = await this.client.all<Tenant>('/tenants').catch((e: ApiError) => {
        console.warn('cannot list tenants', e.message);
        return [];
      });
    }
    this.state.set({ status: 'signed_in', me, tenant: me.tenant_id, tenants });
  }

  private forget(): void {
    this.state.set({ status: 'signed_out', me: null, tenant: null, tenants: [] });
  }
}
