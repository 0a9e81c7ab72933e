// The SQL editor: CodeMirror 6 with SQL highlighting, completion of the
// catalog's databases, tables and columns (those the key may list), and
// the mark of an error's position.
import { autocompletion, closeBrackets, closeBracketsKeymap, Completion, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { sql, SQLNamespace, StandardSQL } from "@codemirror/lang-sql";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { Compartment, EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, DecorationSet, EditorView, highlightActiveLine, keymap, lineNumbers, placeholder } from "@codemirror/view";
import type { Table } from "./api";

const setError = StateEffect.define<[number, number] | null>();
const errorMark = Decoration.mark({ class: "cm-sql-error", attributes: { "aria-invalid": "true" } });

const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = tr.docChanged ? Decoration.none : deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setError)) continue;
      const len = tr.state.doc.length;
      if (!e.value || len === 0) {
        deco = Decoration.none;
        continue;
      }
      let [from, to] = e.value;
      from = Math.min(from, len);
      to = Math.min(Math.max(to, from + 1), len);
      if (from >= to) from = Math.max(0, to - 1);
      deco = Decoration.set([errorMark.range(from, to)]);
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

// namespace turns the catalog into lang-sql's completion schema.
export function namespace(tables: Table[]): SQLNamespace {
  const dbs: Record<string, { self: Completion; children: Record<string, SQLNamespace> }> = {};
  for (const t of tables) {
    const db = (dbs[t.Database] ??= { self: { label: t.Database, type: "namespace", detail: "database" }, children: {} });
    const cols: Completion[] = [...(t.Columns ?? []), ...(t.PartitionKeys ?? [])].map((c) => ({ label: c.Name, type: "property", detail: c.Type }));
    db.children[t.Name] = { self: { label: t.Name, type: "type", detail: `table (${t.Format || t.TableType})` }, children: cols };
  }
  return dbs;
}

export interface SQLEditor {
  view: EditorView;
  text(): string;
  // selected returns the selected text, "" when nothing is selected.
  selected(): string;
  setText(s: string): void;
  setSchema(ns: SQLNamespace, defaultSchema: string): void;
  markError(range: [number, number] | null): void;
}

export function createEditor(parent: HTMLElement, doc: string, onRun: () => void, onChange: (s: string) => void): SQLEditor {
  const lang = new Compartment();
  const lsql = (schema: SQLNamespace, defaultSchema?: string) =>
    sql({ dialect: StandardSQL, schema, defaultSchema: defaultSchema || undefined, upperCaseKeywords: true });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLine(),
        history(),
        bracketMatching(),
        closeBrackets(),
        autocompletion({ activateOnTyping: true }),
        syntaxHighlighting(defaultHighlightStyle),
        placeholder("SELECT … (Ctrl+Enter runs)"),
        keymap.of([
          { key: "Mod-Enter", run: () => (onRun(), true), preventDefault: true },
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...historyKeymap,
          ...completionKeymap,
        ]),
        lang.of(lsql({})),
        errorField,
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ "aria-label": "SQL query", id: "sql-editor" }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    selected: () => {
      const r = view.state.selection.main;
      return r.empty ? "" : view.state.sliceDoc(r.from, r.to);
    },
    setText: (s) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: s } }),
    setSchema: (ns, def) => view.dispatch({ effects: lang.reconfigure(lsql(ns, def)) }),
    markError: (range) => {
      const effects: StateEffect<unknown>[] = [setError.of(range)];
      if (range) effects.push(EditorView.scrollIntoView(Math.min(range[0], view.state.doc.length)));
      view.dispatch({ effects });
    },
  };
}
