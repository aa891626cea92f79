/** Settings → Audit Logs: the Audit Log Integration card (Setup) and every sink of the account. */
import { useQuery } from '@tanstack/react-query';
import { Link, useLocation } from 'react-router-dom';
import { sinkBadge, sinksQuery } from './api';
import { Badge, ErrorBox, Loading } from '../../components/ui';

export default function AuditLogsSettings() {
  const sinks = useQuery(sinksQuery());
  const note = (useLocation().state as { note?: string } | null)?.note;
  return (
    <main id="main" className="page">
      <p className="crumbs">
        <Link to="/settings">Settings</Link> / Audit Logs
      </p>
      <h1>Audit Logs</h1>
      {note && (
        <p role="status" className="note">
          {note}
        </p>
      )}
      <section className="card" aria-labelledby="integration-title">
        <h2 id="integration-title">Audit Log Integration</h2>
        <p>Send every audit record of this account to your AWS Kinesis stream or GCP Pub/Sub topic.</p>
        <Link className="btn btn-primary" to="/settings/audit-logs/setup">
          Setup
        </Link>
      </section>
      <section aria-labelledby="sinks-title">
        <h2 id="sinks-title">Sinks</h2>
        {sinks.isPending && <Loading what="sinks" />}
        {sinks.isError && <ErrorBox title="Could not load the sinks" error={sinks.error} />}
        {sinks.data && sinks.data.length === 0 && <p className="muted">No sink yet: choose Setup to create one.</p>}
        {sinks.data && sinks.data.length > 0 && (
          <table>
            <caption className="sr-only">Audit log sinks</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Destination</th>
                <th scope="col">Status</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {sinks.data.map((s) => {
                const b = sinkBadge({ enabled: s.spec.enabled, health: s.health, state: s.state });
                return (
                  <tr key={s.name}>
                    <td>
                      <Link to={`/settings/audit-logs/sinks/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                    </td>
                    <td>
                      {s.spec.kinesisSink
                        ? `Kinesis ${s.spec.kinesisSink.destinationUri}`
                        : s.spec.pubSubSink
                          ? `Pub/Sub projects/${s.spec.pubSubSink.gcpProjectId}/topics/${s.spec.pubSubSink.topicName}`
                          : '—'}
                    </td>
                    <td>
                      <Badge tone={b.tone}>{b.label}</Badge>
                    </td>
                    <td>{s.errorMessage || '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
