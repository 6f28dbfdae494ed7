"""Run by the book build's IPython kernel before each page (scripts/build_book.py sets it up).

Two book-wide settings, so that no page has to repeat them (see book/AUTHORING.md):

* NumPy prints arrays in lines of at most 76 characters: a line of cell output holds 78
  characters in the page column at 1280 px.
* Every PNG that matplotlib writes records the smallest text it drew, in pixels of the PNG, as the
  tEXt chunk ``book:min-text-px`` (empty when the figure has no text). tests/book/test_published.py
  compares it with the size the browser displays the image at, so that no figure text is smaller
  than 9 px on screen. Only the build records this; a reader's own kernel is unaffected.
"""


def _book_kernel_setup() -> None:
    import functools

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    np.set_printoptions(linewidth=76)

    key = "book:min-text-px"
    recording: list[dict] = []  # the metadata dict of the PNG being drawn (at most one)
    text_draw = Text.draw
    print_png = FigureCanvasAgg.print_png

    def draw(self, renderer, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Text.draw itself skips invisible and empty texts; record only what is drawn.
        if recording and self.get_visible() and self.get_text().strip():
            px = self.get_fontsize() * renderer.dpi / 72
            previous = recording[-1][key]
            recording[-1][key] = f"{px:.2f}" if not previous else f"{min(px, float(previous)):.2f}"
        return text_draw(self, renderer, *args, **kwargs)

    # wraps: matplotlib passes a print method of its own module only the keywords its signature
    # names (inspect.signature follows __wrapped__), so this must look like print_png.
    @functools.wraps(print_png)
    def record_min_text(self, filename_or_obj, *, metadata=None, pil_kwargs=None):  # type: ignore[no-untyped-def]
        # print_png draws the figure, then saves it with this very metadata dict: the texts
        # recorded during the draw end up in the file.
        metadata = {**(metadata or {}), key: ""}
        recording.append(metadata)
        try:
            return print_png(self, filename_or_obj, metadata=metadata, pil_kwargs=pil_kwargs)
        finally:
            recording.remove(metadata)

    Text.draw = draw
    FigureCanvasAgg.print_png = record_min_text


_book_kernel_setup()
del _book_kernel_setup
