package device

import (
	"image"
	"image/color"
)

// bordered is an image with a white border around it.
type bordered struct {
	img    image.Image
	border int
}

func newBordered(img image.Image, border int) image.Image { return bordered{img, border} }

func (b bordered) ColorModel() color.Model { return color.GrayModel }

func (b bordered) Bounds() image.Rectangle {
	r := b.img.Bounds()
	return image.Rect(0, 0, r.Dx()+2*b.border, r.Dy()+2*b.border)
}

func (b bordered) At(x, y int) color.Color {
	r := b.img.Bounds()
	x, y = x-b.border+r.Min.X, y-b.border+r.Min.Y
	if !(image.Point{x, y}.In(r)) {
		return color.White
	}
	return color.GrayModel.Convert(b.img.At(x, y))
}
