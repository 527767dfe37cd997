using Microsoft.AspNetCore.Components;

namespace Patch.Api.Ui;

/// <summary>
/// A console page: it loads everything it shows before its first render (<see cref="LoadAsync"/>), so no render ever
/// sees half of its data. Pages render once, on the server; nothing is interactive.
/// </summary>
public abstract class ConsolePage : ComponentBase
{
    public override async Task SetParametersAsync(ParameterView parameters)
    {
        parameters.SetParameterProperties(this);
        await LoadAsync();
        await base.SetParametersAsync(ParameterView.Empty);
    }

    protected virtual Task LoadAsync() => Task.CompletedTask;
}
