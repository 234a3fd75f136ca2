/**
 * A ListTasksResponse as the protos' JSON and wire shapes give it (snake_case keys, the enum by
 * name, a Timestamp): a stopped task, with the fields every decoding must keep.
 */
export const stoppedTaskList = {
  tasks: [
    {
      id: 'c1',
      pid: 42,
      status: 'STOPPED',
      exit_status: 137,
      container_id: 'c1',
      exited_at: { seconds: 1_700_000_000, nanos: 5 },
    },
  ],
};
