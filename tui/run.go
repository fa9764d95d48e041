package tui

import (
	"context"
	"errors"

	tea "charm.land/bubbletea/v2"
)

// Run shows the console on the terminal until the user quits or ctx ends.
// Extra options (input, output, colour profile) are passed to Bubble Tea,
// which honours NO_COLOR when it detects the terminal's colours.
func Run(ctx context.Context, node Node, opt Options, extra ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := append([]tea.ProgramOption{tea.WithContext(ctx)}, extra...)
	_, err := tea.NewProgram(New(ctx, node, opt), opts...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	return err
}
