// Typed code a frontend writes against GraphQL Code Generator's output for the gateway's schema
// (README's scalar mapping); `tsc --noEmit` must accept it, so every custom scalar has a real type.
import type { CreateTagMutationVariables, TaskByIdQuery, TaskByIdQueryVariables, TaskStatus } from "./generated";

export const variables: TaskByIdQueryVariables = { id: "42" };
export const newTag: CreateTagMutationVariables = { input: { organizationId: "1", name: "typed" } };

export function describe(data: TaskByIdQuery): string {
  const task = data.task;
  if (!task) return "none";
  const id: string = task.id;
  const created: string = task.createdAt;
  const due: string | null | undefined = task.dueOn;
  const estimate: string | null | undefined = task.estimateHours;
  const status: TaskStatus = task.status;
  const external: string | undefined = task.assignee?.externalId;
  return `${id} ${task.title} ${status} ${task.priority + 1} ${due ?? "-"} ${estimate ?? "-"} ${created} ${task.project.organization.slug} ${external ?? "-"}`;
}
