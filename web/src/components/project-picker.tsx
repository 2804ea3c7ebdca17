/** The project a per-project view (sources, alerts) shows: from the address, or the newest one. */
import type { Project } from '../api/client';
import { useProjects } from '../hooks';
import { replaceQuery } from '../router';
import { Empty, Loading, ProblemBox } from './ui';

export function useProjectPick(section: string, query: URLSearchParams) {
  const { projects, error } = useProjects();
  const chosen = query.get('project') ?? '';
  const project: Project | null = projects?.find((p) => p.id === chosen) ?? (chosen ? null : projects?.[0] ?? null);
  const picker = (
    <div class="field picker">
      <label for={`${section}-project`}>Project</label>
      <select id={`${section}-project`} value={project?.id ?? chosen} onChange={(e) => replaceQuery(section, { project: (e.target as HTMLSelectElement).value })}>
        {(projects ?? []).map((p) => <option value={p.id}>{p.name}</option>)}
      </select>
    </div>
  );
  const blocker = projects === null ? <Loading what="projects" />
    : error ? <ProblemBox error={error} />
    : projects.length === 0 ? <Empty>No projects yet. <a href="#/projects">Create one</a> first.</Empty>
    : !project ? <Empty>No project {chosen} here. Pick one above.</Empty>
    : null;
  return { project, picker: projects && projects.length > 0 ? picker : null, blocker };
}
