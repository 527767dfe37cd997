using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>The computers page's CSV import as an operator uses it: a directory export, then an ANSI file.</summary>
[Collection("console")]
public class when_an_operator_imports_computers_in_the_console(ConsoleFixture console)
{
    [Fact]
    public async Task a_directory_export_is_imported_with_its_unread_columns_named_and_an_ansi_file_is_refused_on_the_page()
    {
        await console.UserAsync("ivan", Roles.Operator);
        var folder = Directory.CreateTempSubdirectory("patch-computers-csv-").FullName;
        var page = await console.SignInAsync("ivan");
        try
        {
            var export = Path.Combine(folder, "ad-computers.csv");
            await File.WriteAllTextAsync(export, "#TYPE Selected.Microsoft.ActiveDirectory.Management.ADComputer\r\n\"Name\",\"DNSHostName\",\"OperatingSystem\",\"Enabled\"\r\n" +
                "\"SCREEN-AD-1\",\"screen-ad-1.corp.example.com\",\"Windows 11 Enterprise\",\"True\"\r\n", TestContext.Current.CancellationToken);
            await page.GotoAsync("/computers");
            await page.GetByText("Register or import computers").ClickAsync();
            await page.GetByLabel("CSV file").SetInputFilesAsync(export);
            await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
            await Expect(page.Locator("#import-result [data-field=added]")).ToHaveTextAsync("1");
            await Expect(page.Locator("#import-result [data-field=ignoredColumns]")).ToHaveTextAsync("Enabled");
            await console.ScreenshotAsync(page, "computers-import-directory-export");

            var ansi = Path.Combine(folder, "excel.csv");
            await File.WriteAllBytesAsync(ansi, System.Text.Encoding.Latin1.GetBytes("name,os\r\nM\u00fcller-PC,Windows 11\r\n"), TestContext.Current.CancellationToken);
            await page.GetByLabel("CSV file").SetInputFilesAsync(ansi);
            await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
            await Expect(page.GetByText("is not valid UTF-8")).ToBeVisibleAsync();
            // The earlier import's counts are not left beside the refusal.
            await Expect(page.Locator("#import-result")).ToBeHiddenAsync();
            await console.ScreenshotAsync(page, "computers-import-ansi-refused");
        }
        finally
        {
            await page.Context.CloseAsync();
            Directory.Delete(folder, recursive: true);
        }
    }
}
