package migrate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Report formats accepted by LintReport.Write.
const (
	FormatText     = "text"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
)

// Write renders the report as text, json or markdown. The output holds no
// timestamps or paths outside the migration directory, so it is stable.
func (r *LintReport) Write(w io.Writer, format string) error {
	switch format {
	case "", FormatText:
		return r.writeText(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatMarkdown:
		return r.writeMarkdown(w)
	default:
		return fmt.Errorf("migrate: unknown report format %q (want text, json or markdown)", format)
	}
}

func (r *LintReport) writeText(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.Files {
		fmt.Fprintf(&b, "%s: %s\n", f.Name, plural(len(f.Findings), "finding"))
		for _, x := range f.Findings {
			fmt.Fprintf(&b, "  %s:%d: %s [%s] %s (%s)\n", x.File, x.Line, x.Code, x.Severity, x.Text, x.Analyzer)
			if x.Stmt != "" {
				fmt.Fprintf(&b, "        statement: %s\n", oneLine(x.Stmt))
			}
			if x.Fix != "" {
				fmt.Fprintf(&b, "        safe rewrite: %s\n", oneLine(x.Fix))
			}
		}
	}
	fmt.Fprintf(&b, "%s linted: %s, %s\n", plural(len(r.Files), "file"), plural(r.Errors, "error"), plural(r.Warnings, "warning"))
	_, err := io.WriteString(w, b.String())
	return err
}

// MarkdownMarker starts every Markdown report, so a CI job can find and
// update its previous pull-request comment.
const MarkdownMarker = "<!-- datalayer-migrate-lint -->"

func (r *LintReport) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString(MarkdownMarker + "\n")
	status := "✅ Migration lint passed"
	if r.Failed() {
		status = "❌ Migration lint failed"
	} else if r.Warnings > 0 {
		status = "⚠️ Migration lint passed with warnings"
	}
	fmt.Fprintf(&b, "### %s\n\n", status)
	fmt.Fprintf(&b, "%s linted: **%s**, **%s**.\n", plural(len(r.Files), "file"), plural(r.Errors, "error"), plural(r.Warnings, "warning"))
	for _, f := range r.Files {
		fmt.Fprintf(&b, "\n#### `%s`\n\n", f.Name)
		if len(f.Findings) == 0 {
			b.WriteString("No findings.\n")
			continue
		}
		b.WriteString("| Severity | Code | Line | Finding | Suggested fix |\n|---|---|---|---|---|\n")
		for _, x := range f.Findings {
			icon := map[Severity]string{SeverityError: "🔴 error", SeverityWarning: "🟡 warning"}[x.Severity]
			fmt.Fprintf(&b, "| %s | `%s` | %d | %s | %s |\n", icon, x.Code, x.Line, mdCell(x.Text), mdCell(x.Fix))
		}
		var stmts []string
		seen := map[string]bool{}
		for _, x := range f.Findings {
			if x.Stmt != "" && !seen[x.Stmt] {
				seen[x.Stmt] = true
				stmts = append(stmts, x.Stmt)
			}
		}
		if len(stmts) > 0 {
			b.WriteString("\n<details><summary>Statements</summary>\n\n```sql\n")
			for _, s := range stmts {
				b.WriteString(strings.TrimSuffix(s, ";") + ";\n")
			}
			b.WriteString("```\n\n</details>\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
