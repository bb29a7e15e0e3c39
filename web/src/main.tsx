// The console's entry: restores the session from the refresh cookie, then shows the page the hash
// names. A signed-out user goes to sign-in and comes back to the page they were on.

import { render } from 'preact';
import { useEffect } from 'preact/hooks';
import { session } from './app';
import { Loading } from './ui/components';
import { useStore } from './ui/hooks';
import { Layout } from './ui/layout';
import { go, loginHref, route } from './stores/router';
import { SignIn } from './pages/sign_in';
import { Dashboard } from './pages/dashboard';
import { LiveWall } from './pages/live_wall';
import { Cameras } from './pages/cameras';
import { CameraPage } from './pages/camera';
import { RulesPage } from './pages/rules';
import { EventsPage, EventPage } from './pages/events';
import { TicketsPage, TicketPage } from './pages/tickets';
import { NotificationsPage } from './pages/notifications';
import { AdminPage } from './pages/admin';
import { ClusterPage } from './pages/cluster';
import './styles.css';

function Page() {
  const r = useStore(route);
  switch (r.page) {
    case 'dashboard':
      return <Dashboard />;
    case 'live':
      return <LiveWall />;
    case 'cameras':
      return <Cameras />;
    case 'camera':
      return <CameraPage id={r.id!} />;
    case 'rules':
      return <RulesPage id={r.id!} />;
    case 'events':
      return <EventsPage query={r.query} />;
    case 'event':
      return <EventPage id={r.id!} />;
    case 'tickets':
      return <TicketsPage />;
    case 'ticket':
      return <TicketPage id={r.id!} />;
    case 'notifications':
      return <NotificationsPage />;
    case 'admin':
      return <AdminPage />;
    case 'cluster':
      return <ClusterPage />;
    default:
      return (
        <div>
          <h1>Page not found</h1>
          <p>
            There is no page at <code>{location.hash}</code>. <a href="#/">Go to the dashboard</a>.
          </p>
        </div>
      );
  }
}

function App() {
  const s = useStore(session.state);
  const r = useStore(route);
  useEffect(() => {
    session.restore();
  }, []);
  useEffect(() => {
    if (s.status === 'signed_out' && r.page !== 'login') go(loginHref(location.hash));
    if (s.status === 'signed_in' && r.page === 'login') go('#' + (r.query.get('next') ?? '/'));
  }, [s.status, r.page]);
  useEffect(() => {
    document.title = `${r.page.replace(/_/g, ' ')} · vms console`;
  }, [r.page]);
  if (s.status === 'unknown') return <Loading what="the console" />;
  if (r.page === 'login' || s.status === 'signed_out') return <SignIn />;
  return (
    <Layout route={r}>
      <Page />
    </Layout>
  );
}

render(<App />, document.getElementById('app')!);
