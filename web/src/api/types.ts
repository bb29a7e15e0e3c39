// The API's shapes the console reads (see /api/v1/openapi.json for all of them).

export type Role = 'platform_admin' | 'tenant_admin' | 'operator' | 'viewer';

export interface Me {
  user_id: string;
  email: string;
  tenant_id: string | null;
  role: Role;
  permissions: string[];
  credential: string;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export type CameraState = 'disabled' | 'connecting' | 'streaming' | 'backoff' | 'failed' | 'suspended' | 'unknown';

export interface CameraStatus {
  state: CameraState;
  reason?: string | null;
  fps: number;
  bitrate_bps: number;
  last_frame_at?: string | null;
  node?: string | null;
  reconnects: number;
  segments_written: number;
  since: string;
}

export interface Camera {
  id: string;
  tenant_id: string;
  name: string;
  url: string;
  has_credentials: boolean;
  enabled: boolean;
  retention_days?: number | null;
  labels: Record<string, string>;
  sample_fps?: number | null;
  transport: 'tcp' | 'udp';
  created_at: string;
  updated_at: string;
  status: CameraStatus;
}

export interface Event {
  id: string;
  tenant_id: string;
  camera_id: string;
  kind: string;
  rule: string;
  rule_id?: string | null;
  label: string;
  score: number;
  bbox: number[];
  at: string;
  node: string;
  has_snapshot: boolean;
  ticket_id?: string | null;
}

export type TicketState = 'open' | 'acknowledged' | 'resolved' | 'closed';

export interface Ticket {
  id: string;
  tenant_id: string;
  camera_id: string;
  rule: string;
  kind: string;
  state: TicketState;
  events: number;
  opened_at: string;
  updated_at: string;
  escalated_at?: string | null;
}

export interface TicketView extends Ticket {
  history: { at: string; actor: string; action: string; state: TicketState; comment?: string | null }[];
}

export interface NodeView {
  id: string;
  api: string;
  version: string;
  roles: string[];
  labels: Record<string, string>;
  max_cameras: number;
  cameras: number;
  owned: number;
  placed: number;
  drained: boolean;
  leader: boolean;
  state: 'up' | 'down' | 'left';
  started_at: string;
  last_seen_ms: number;
  disk?: { total_bytes: number; free_bytes: number } | null;
  /** Model worker replicas the node runs, with their load. */
  replicas?: { model: string; queued: number; sessions: number; service_us: number }[];
}

export interface PlacementEntry {
  camera_id: string;
  tenant_id: string;
  camera_name: string;
  node_id?: string | null;
  epoch: number;
  previous_node?: string | null;
  unplaced_reason?: string | null;
  assigned_at?: string | null;
  standby_node?: string | null;
}

export interface PlacementView {
  leader?: string | null;
  moves: number;
  unplaced: number;
  items: PlacementEntry[];
}

export interface Timeline {
  from: string;
  to: string;
  spans: { from: string; to: string; segments: number }[];
  gaps: { from: string; to: string; reason: string }[];
  events: { id: string; at: string; kind: string }[];
}

export interface ExportFile {
  camera_id: string;
  state: string;
  segments_done: number;
  segments_total: number;
  bytes?: number | null;
  error?: string | null;
  download_url: string;
  manifest_url: string;
}

export interface Export {
  id: string;
  from: string;
  to: string;
  reason: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  progress_percent: number;
  created_at: string;
  files: ExportFile[];
}

export interface Rule {
  id: string;
  camera_id: string;
  name: string;
  kind: string;
  detector: string;
  classes: string[];
  min_score: number;
  zone?: [number, number][] | null;
  line?: [[number, number], [number, number]] | null;
  direction?: string | null;
  cooldown_seconds: number;
  enabled: boolean;
  dwell_seconds?: number | null;
  min_count?: number | null;
  schedule?: { days: string[]; start: string; end: string }[] | null;
  priority: 'high' | 'standard';
}

export interface Detector {
  name: string;
  version: string;
  family: string;
  labels: string[];
  licence: string;
  input: [number, number];
  running: boolean;
}

export interface Tenant {
  id: string;
  name: string;
  max_cameras: number;
  retention_days: number;
  allowed_detectors: string[];
  expires_at?: string | null;
  ack_sla_seconds?: number | null;
  storage_quota_bytes?: number | null;
  inference_share: number;
}

export interface User {
  id: string;
  email: string;
  tenant_id?: string | null;
  role: Role;
  disabled: boolean;
  created_at: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  expires_at?: string | null;
  revoked_at?: string | null;
  created_at: string;
}

export interface Channel {
  id: string;
  name: string;
  kind: 'webhook' | 'email';
  url?: string | null;
  to: string[];
  kinds: string[];
  enabled: boolean;
}

export interface Delivery {
  id: string;
  channel_id: string;
  event_id: string;
  kind: string;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  last_error?: string | null;
  created_at: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  object_kind?: string | null;
  object_id?: string | null;
  request: string;
  status: number;
  ip?: string | null;
}
