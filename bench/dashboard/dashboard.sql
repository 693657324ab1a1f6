-- The dashboard of bench/dashboard/dashboard.graphql written by hand: the same JSON, built by
-- PostgreSQL in one statement (pgbench variables :org and :today).
SELECT json_build_object(
  'organization', (
    SELECT json_build_object(
      'name', o.name,
      'projects', json_build_object('nodes', (
        SELECT json_agg(json_build_object(
          'name', p.name,
          'perMonth', json_build_object('groupBy', (
            SELECT json_agg(json_build_object(
              'key', json_build_object('createdAt', g.month, 'status', upper(g.status::text)),
              'count', g.tasks) ORDER BY g.month, g.status)
            FROM (SELECT date_trunc('month', t.created_at, 'UTC') AS month, t.status, count(*) AS tasks
                  FROM tasks t WHERE t.project_id = p.id GROUP BY 1, 2) g))
        ) ORDER BY lower(p.name), p.id)
        FROM (SELECT * FROM projects WHERE organization_id = o.id ORDER BY lower(name), id LIMIT 2) p)),
      'mostOpen', json_build_object('nodes', (
        SELECT json_agg(json_build_object('name', p.name, 'open', json_build_object('count', p.open))
                        ORDER BY p.open DESC, p.id)
        FROM (SELECT p.id, p.name,
                     (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.status <> 'done') AS open
              FROM projects p WHERE p.organization_id = o.id ORDER BY open DESC, p.id LIMIT 5) p)))
    FROM organizations o WHERE o.id = :org),
  'estimates', json_build_object('groupBy', (
    SELECT json_agg(json_build_object(
      'key', json_build_object('assignee', json_build_object('displayName', e.name)),
      'count', e.tasks,
      'avg', json_build_object('estimateHours', e.average)) ORDER BY e.average DESC NULLS FIRST, e.name NULLS FIRST)
    FROM (SELECT u.display_name AS name, count(*) AS tasks, avg(t.estimate_hours)::float8 AS average
          FROM tasks t JOIN projects p ON p.id = t.project_id LEFT JOIN users u ON u.id = t.assignee_id
          WHERE p.organization_id = :org
          GROUP BY 1 ORDER BY 3 DESC NULLS FIRST, 1 NULLS FIRST LIMIT 3) e)),
  'overdue', json_build_object('groupBy', (
    SELECT json_agg(json_build_object('key', json_build_object('project', json_build_object('name', d.name)),
                                      'count', d.tasks) ORDER BY d.tasks DESC, d.name NULLS FIRST)
    FROM (SELECT p.name, count(*) AS tasks FROM tasks t JOIN projects p ON p.id = t.project_id
          WHERE p.organization_id = :org AND t.status <> 'done' AND t.due_on < :'today'
          GROUP BY p.name HAVING count(*) > 3 ORDER BY 2 DESC, 1 NULLS FIRST LIMIT 3) d))
)::text;
