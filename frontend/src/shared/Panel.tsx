import type { UseQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { toApiError } from "../api/errors";

interface PanelProps<T> {
  /** The panel's heading, also its accessible name. */
  title: string;
  headingLevel?: 2 | 3;
  query: UseQueryResult<T>;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  children: (data: T) => ReactNode;
  hideTitle?: boolean;
}

/** One part of a page with its own loading, empty and error states: its failure stays inside it. */
export function Panel<T>({ title, headingLevel = 2, query, isEmpty, empty, children, hideTitle }: PanelProps<T>) {
  const Heading = `h${headingLevel}` as const;
  const id = `panel-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  let body: ReactNode;
  if (query.isPending) {
    body = (
      <p role="status" className="muted">
        Loading {title.toLowerCase()}…
      </p>
    );
  } else if (query.isError) {
    body = (
      <div role="alert" className="notice error">
        <p>{toApiError(query.error).userMessage}</p>
        <button type="button" onClick={() => void query.refetch()}>
          Try again
        </button>
      </div>
    );
  } else if (isEmpty?.(query.data)) {
    body = <p className="muted">{empty ?? "Nothing here yet."}</p>;
  } else {
    body = children(query.data);
  }
  return (
    <section aria-labelledby={id} className="panel" aria-busy={query.isFetching}>
      <Heading id={id} className={hideTitle ? "visually-hidden" : undefined}>
        {title}
      </Heading>
      {body}
    </section>
  );
}
